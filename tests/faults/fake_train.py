"""A quick stand-in for ``python -m ml.train`` (REGISTRY_TRAINING_MODULE in the fault tests):
the same arguments, the same progress lines, and a model folder written piece by piece
while it "trains", so a worker killed mid-run leaves a half-written folder behind. It
sleeps FAKE_TRAIN_EPOCH_SECONDS per epoch; the manifest comes last, as ml.train writes it."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from ml import artefact


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--extra", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    args, _ = parser.parse_known_args()
    images = sorted(p.name for p in args.data.rglob("*.png"))
    seconds = float(os.environ.get("FAKE_TRAIN_EPOCH_SECONDS", "0.5"))
    args.out.mkdir(parents=True, exist_ok=True)
    for epoch in range(1, args.epochs + 1):
        print(f"Epoch {epoch}/{args.epochs}", flush=True)
        # a weights file that grows epoch by epoch: half-written until the run ends
        with open(args.out / artefact.MODEL_FILE, "ab") as fh:
            fh.write(os.urandom(4096))
        time.sleep(seconds)
    print("Calibrating: temperature and threshold", flush=True)
    artefact.write_json(args.out / artefact.FINGERPRINT_FILE, {"class_counts": {}})
    manifest = {
        "format_version": artefact.FORMAT_VERSION,
        "version": args.version,
        "threshold": 0.3,
        "temperature": 1.0,
        "training": {"data": [str(args.data), *map(str, args.extra)], "images": len(images)},
        "validation": {"n": 0, "accuracy": 0.5},
    }
    artefact.write_json(args.out / artefact.MANIFEST, manifest)
    print(json.dumps({"model_dir": str(args.out), "version": args.version}), flush=True)


if __name__ == "__main__":
    main()
