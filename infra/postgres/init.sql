-- PostgreSQL for ketenbus: one database, one schema per environment, one role for the services.
-- Each service's eventsourcing Application creates its own tables (named after the service) on
-- first start; kluis keeps its wrapped data keys in its own table so they can be deleted.
CREATE ROLE ketenbus LOGIN PASSWORD 'change-me';
CREATE DATABASE ketenbus OWNER ketenbus;
\connect ketenbus
CREATE SCHEMA IF NOT EXISTS ketenbus AUTHORIZATION ketenbus;
