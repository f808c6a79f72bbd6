"""`python -m bench <name> [options]`: run one benchmark and print its figures as JSON on the last line."""
import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path

from bench import peak_rss_mb


def available() -> list[str]:
    """Every `bench/<name>.py` module, except private ones (`_name.py`)."""
    folder = str(Path(__file__).resolve().parent)
    return sorted(
        module.name
        for module in pkgutil.iter_modules([folder])
        if not module.name.startswith("_") and not module.ispkg
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = root.add_subparsers(dest="bench", required=True, metavar="name")
    for name in available():
        module = importlib.import_module(f"bench.{name}")
        summary = (module.__doc__ or name).strip().splitlines()[0]
        command = commands.add_parser(name, help=summary, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(module=module)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    figures = args.module.run(args)
    result = {"bench": args.bench, **figures, "peak_rss_mb": peak_rss_mb()}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
