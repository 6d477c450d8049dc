# blueking.job - build and test entry points. Everything runs through scripts/.
#   make test          sanity + units + the ansible-test smoke target on ansible-core 2.16, 2.17,
#                      2.18, 2.19, 2.20 and 2.21, the pytest end-to-end suite on 2.16 and 2.21,
#                      then the release checks and the docs site (below); BKJOB_CORES narrows it
#   make sanity        ansible-test sanity only   (CORE=2.19 by default; CORE=2.16 ... 2.21 to switch)
#   make units         ansible-test units only
#   make integration   pytest tests/integration only
#   make release       release checks: changelog, docs lint, ansible-lint (whole collection),
#                      ansible-builder create, build + install + run from the installed copy,
#                      galaxy-importer with Automation Hub's checks (tools venv .venvs/tools)
#   make docs          build the HTML docs site into docs/build/html
#   make demo          run demo/demo.yml against the local JOB emulator
#   make build         build the collection artifact (blueking-job-<version>.tar.gz)
#   make clean         remove venvs, test output and built artifacts
CORE ?= 2.19

.PHONY: test sanity units integration release docs demo build clean

test:
	scripts/test.sh

sanity:
	BKJOB_CORES="$(CORE)" BKJOB_STEPS=sanity scripts/test.sh

units:
	BKJOB_CORES="$(CORE)" BKJOB_STEPS=units scripts/test.sh

integration:
	BKJOB_CORES="$(CORE)" BKJOB_STEPS=integration scripts/test.sh

release:
	BKJOB_STEPS=release scripts/test.sh

docs:
	BKJOB_STEPS=docs scripts/test.sh

demo:
	scripts/demo.sh

build:
	"$$(scripts/venv.sh $(CORE) | tail -n 1)/bin/ansible-galaxy" collection build --force .

clean:
	rm -rf .venvs tests/output docs/build .pytest_cache .hypothesis blueking-job-*.tar.gz
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
