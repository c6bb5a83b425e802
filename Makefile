# Convenience aliases for dev.py (which needs only python3 and pip).
.PHONY: demo test setup
demo:
	python3 dev.py demo
test:
	python3 dev.py test
setup:
	python3 dev.py setup
