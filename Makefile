# One command to set up and run the lakehouse, one to set up and pass the tests.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# the S3A jars, where stedi.engines.spark finds them: sys.prefix/share/stedi/jars
JARS = $(VENV)/share/stedi/jars

.PHONY: run test bench setup setup-spark setup-dev clean

run: setup  ## build the lakehouse in ./lakehouse (the built-in sample on a fresh machine)
	$(BIN)/stedi run

test: setup-dev  ## run the test suite
	$(BIN)/python -m pytest

bench: setup-dev  ## print speed and memory figures, write benchmarks/results.json and the README's table
	$(BIN)/python benchmarks/bench.py --json benchmarks/results.json --readme README.md

setup: $(BIN)/.core
setup-spark: $(BIN)/.spark  ## pyspark and the S3A jars (jars/pom.xml) for --engine spark
setup-dev: $(BIN)/.dev  ## and Debian's chromium, in which the report's tests open it (they skip without it)
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the report's browser tests will skip"

$(BIN)/.core: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	touch $@

$(BIN)/.spark: $(BIN)/.core jars/pom.xml
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[spark]'
	rm -rf $(JARS)
	mvn -q -B -Dstyle.color=never -f jars/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(JARS))
	touch $@

$(BIN)/.dev: $(BIN)/.spark
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[spark,aws,test]'
	touch $@

clean:
	rm -rf lakehouse .pytest_cache
