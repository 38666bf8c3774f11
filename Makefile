.PHONY: run test lint bench-claim
run:  ## set up and serve the embedded site on http://127.0.0.1:8000
	scripts/run.sh
test:  ## set up and run lint, migration check and the whole test suite
	scripts/test.sh
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-cache
bench-claim:  ## 20 readers claim and submit at once over HTTP; writes docs/bench-claim.md and .json
	scripts/setup.sh --dev && .venv/bin/python bench/bench_claim.py
