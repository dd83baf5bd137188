# citychain: the two commands that set up a fresh machine are `make demo` and `make test`.
PY := .venv/bin/python
# two workers: the CometBFT tests (xdist group "network") on one, beside the rest (tests/xdist_scheduling.py)
XDIST ?= -n 2 --dist loadgroup
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test test-fast lint typecheck bench soak setup setup-dev system-deps cometbft clean

setup:            ## the runtime: .venv with citychain, and the CometBFT binary
	bash scripts/setup-python.sh
	bash scripts/install-cometbft.sh

setup-dev:        ## runtime + test and lint tools
	bash scripts/setup-python.sh dev
	bash scripts/install-cometbft.sh

cometbft:         ## the pinned CometBFT binary in .tools/bin
	bash scripts/install-cometbft.sh

system-deps:      ## Debian packages the tests need (Chromium for the browser tests, zbarimg to read QR codes back)
	bash scripts/apt-install.sh chromium zbar-tools mosquitto

demo: setup       ## a 4-member CometBFT consortium: a simulated city's payments, registry and battery fleet
	bash scripts/apt-install.sh mosquitto
	.venv/bin/citychain demo --network 4 $(DEMO_ARGS)

lint: setup-dev
	.venv/bin/ruff check citychain tests bench
	.venv/bin/ruff format --check citychain tests bench
	bash scripts/check-generated.sh
	.venv/bin/lint-imports --no-cache

typecheck: setup-dev
	.venv/bin/mypy --strict citychain

test: setup-dev system-deps lint typecheck   ## every suite, slow ones included
	$(PY) -m pytest -q -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

test-fast: setup-dev   ## skip the suites marked slow and those that start CometBFT
	$(PY) -m pytest -q -p no:cacheprovider $(XDIST) -m "not slow and not network" $(PYTEST_ARGS)

bench: setup-dev  ## benchmarks: payments (solo; 4 validators vs kvstore), commit cost by state size, Merkle tree, certificates (issue, offline verify, QR size), battery end-of-life prediction, telemetry gateway, battery fleet, issue 13's attacks (solo and 4 validators)
	.venv/bin/citychain bench payments $(BENCH_ARGS)
	.venv/bin/citychain bench payments --network 4 $(BENCH_ARGS)
	$(PY) bench/bench_commit_scaling.py
	$(PY) bench/bench_state_tree.py
	$(PY) bench/bench_certificates.py
	$(PY) bench/bench_birth_verify.py
	.venv/bin/citychain bench battery
	$(PY) bench/bench_gateway.py --devices 50 --reports 1000
	$(PY) bench/bench_fleet.py --batteries 2000 --days 3
	$(PY) bench/attacks.py
	$(PY) bench/attacks.py --network 4

soak: setup-dev   ## an hour of mixed load on 4 validators (bench/soak.py; not in make test)
	$(PY) bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf .venv demo-home .pytest_cache .mypy_cache .ruff_cache
