"""The four stages, task-agnostic: preprocess, train, generate, evaluate.

Each is a plain function over config data; `jazzgen/cli.py` is a thin shell over them.
"""
