# Habits: `make check` before every push; `make test` is the whole suite (PostgreSQL included);
# `make test-quick` the suite on SQLite only; `make pg-stop` stops the test PostgreSQL.
.PHONY: check test test-quick up pg-stop
check:
	./dev check
test:
	./dev test
test-quick:
	./dev test-quick
up:
	./dev up
pg-stop:
	./dev pg-stop
