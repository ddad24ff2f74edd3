"""Pure readers and writers of legacy file formats (no database, no I/O beyond bytes in, bytes out)."""
