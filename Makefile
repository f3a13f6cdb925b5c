# Thin aliases for ./dev, which installs what each target needs.
.PHONY: run test lint bench docs
run:
	./dev run
test:
	./dev test
lint:
	./dev lint
bench:
	./dev bench
