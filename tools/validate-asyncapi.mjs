#!/usr/bin/env node
// Validate an AsyncAPI document with the official @asyncapi/parser (the one the AsyncAPI
// tooling itself uses), print every diagnostic, and exit non-zero when there is an error.
//
// Usage: node tools/validate-asyncapi.mjs FILE [--strict]
//   --strict  also fail on warnings
// Exit codes: 0 valid, 1 invalid (or warnings with --strict), 2 usage or I/O problem.
import path from 'node:path';
import process from 'node:process';

// The parser ships CommonJS as its entry point; a default import works on every Node >= 20.
import asyncapiParser from '@asyncapi/parser';

const { Parser, fromFile, DiagnosticSeverity } = asyncapiParser;

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

function format(file, diagnostic) {
  const line = diagnostic.range ? diagnostic.range.start.line + 1 : 0;
  const where = diagnostic.path && diagnostic.path.length ? diagnostic.path.join('.') : '(root)';
  const severity = SEVERITY[diagnostic.severity] ?? String(diagnostic.severity);
  return `${file}:${line}: ${severity} [${diagnostic.code}] ${where}: ${diagnostic.message}`;
}

async function main(argv) {
  const args = argv.filter((a) => !a.startsWith('--'));
  const strict = argv.includes('--strict');
  if (args.length !== 1) {
    console.error('usage: node tools/validate-asyncapi.mjs FILE [--strict]');
    return 2;
  }
  const file = args[0];
  const parser = new Parser();
  let output;
  try {
    output = await fromFile(parser, path.resolve(file)).parse();
  } catch (err) {
    console.error(`${file}: cannot read or parse: ${err.message ?? err}`);
    return 2;
  }
  const { document, diagnostics } = output;
  for (const d of diagnostics) {
    console.log(format(file, d));
  }
  const count = (severity) => diagnostics.filter((d) => d.severity === severity).length;
  const errors = count(DiagnosticSeverity.Error);
  const warnings = count(DiagnosticSeverity.Warning);
  const valid = document !== undefined && errors === 0;
  const version = document ? document.version() : 'unknown';
  console.log(
    `${file}: AsyncAPI ${version}: ${valid ? 'valid' : 'INVALID'} ` +
      `(${errors} error(s), ${warnings} warning(s), ${diagnostics.length} diagnostic(s))`,
  );
  if (!valid) return 1;
  if (strict && warnings > 0) return 1;
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
