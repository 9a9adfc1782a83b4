"""The provledger command line: the root group and the query commands."""
