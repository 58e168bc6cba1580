"""`siaga schemas export DIR`: write every contract as JSON Schema, for app developers and other teams."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import BaseModel

import schemas
from schemas.api import SituationResponse


def contract_models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {
        name: getattr(schemas, name) for name in schemas.__all__ if isinstance(getattr(schemas, name), type)
        and issubclass(getattr(schemas, name), BaseModel)
    }
    models["SituationResponse"] = SituationResponse
    return models


def export(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in sorted(contract_models().items()):
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def _run(args: argparse.Namespace) -> int:
    for path in export(Path(args.dir)):
        print(path)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("schemas", help="work with the JSON Schema contracts")
    sub = p.add_subparsers(dest="schemas_command", required=True)
    e = sub.add_parser("export", help="write every model as JSON Schema into DIR")
    e.add_argument("dir")
    e.set_defaults(func=_run)
