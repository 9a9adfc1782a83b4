# For mypy only (see [tool.mypy] in pyproject.toml): installed, provenance_ledger is a
# namespace package.
