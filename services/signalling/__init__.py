"""signalling: partners register concerns about a child; two or more make a match."""
