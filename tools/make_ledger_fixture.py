"""Write ``tests/fixtures/ledger-v1/``: a small project ledger as the release before schema versioning wrote it.

Run once with that release's code (``python tools/make_ledger_fixture.py``); the committed result is what
``tests/core/test_ledger_schema.py`` opens to prove that a ledger written then still opens now. It holds one landed
take (with its file), one job cut off mid-submit (``unknown``), one job with a remote id still running, a choice and
a verdict. Nothing in it is a secret.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blender_canvas.engine.ledger import SUBMITTING, UNKNOWN, JobRecord, Ledger, TakeRecord  # noqa: E402
from blender_canvas.engine.planner import sha256_file  # noqa: E402
from blender_canvas.providers.backend import RemoteJob  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "ledger-v1"


def job(job_id: str, index: int, state: str) -> JobRecord:
    return JobRecord(job_id=job_id, node_id="still", take_index=index, cache_key=f"key-{index}", model="flux",
                     variant="schnell", backend="fal", backend_model_id="fal-ai/flux/schnell", prompt="a red bicycle",
                     request_json="{}", state=state, estimated_usd=0.003, created_at=1_760_000_000.0 + index)


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "takes" / "still").mkdir(parents=True)
    ledger = Ledger(OUT / "ledger.sqlite")
    landed = job("aaaaaaaaaaaaaaa0", 0, SUBMITTING)
    ledger.add_job(landed)
    ledger.record_remote(landed.job_id, RemoteJob(backend="fal", remote_id="req-0"))
    file = OUT / "takes" / "still" / f"{landed.job_id}.png"
    Image.new("RGB", (8, 8), (200, 30, 30)).save(file, format="PNG")
    ledger.add_take(TakeRecord(take_id=landed.job_id, node_id="still", cache_key=landed.cache_key,
                               file=f"takes/still/{file.name}", sha256=sha256_file(file), media="image", width=8,
                               height=8, size_bytes=file.stat().st_size, model="flux", variant="schnell",
                               backend="fal", remote_id="req-0", prompt="a red bicycle", estimated_usd=0.003,
                               input_hashes="{}", timings_json="{}", created_at=1_760_000_100.0))
    ledger.set_verdict(landed.job_id, {"look": 4}, "fine", updated_at=1_760_000_200.0)
    cut_off = job("aaaaaaaaaaaaaaa1", 1, SUBMITTING)
    ledger.add_job(cut_off)
    ledger.set_state(cut_off.job_id, UNKNOWN, "cut off mid-submit", error_message="cut off mid-submit")
    running = job("aaaaaaaaaaaaaaa2", 2, SUBMITTING)
    ledger.add_job(running)
    ledger.record_remote(running.job_id, RemoteJob(backend="fal", remote_id="req-2"))
    ledger.close()
    db = sqlite3.connect(OUT / "ledger.sqlite")
    db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    db.close()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
