.PHONY: run test lint
run:  ## set up and serve the embedded site on http://127.0.0.1:8000
	scripts/run.sh
test:  ## set up and run lint, migration check and the whole test suite
	scripts/test.sh
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
