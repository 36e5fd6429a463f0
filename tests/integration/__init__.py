# Makes tests/integration a package: its test files may share basenames with unit tests (test_<module>.py).
