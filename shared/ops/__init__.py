"""Operator commands: the command line, the ledger check, the status report and API keys. The
only part of shared/ that may import gateway/ and worker/."""
