# Habits: `make check` before every push; `make test` is the whole suite (PostgreSQL included).
.PHONY: check test up
check:
	./dev check
test:
	./dev test
up:
	./dev up
