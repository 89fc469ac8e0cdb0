"""Loopback download of a 200 MB file from the tests' fake hub: clipcore.embedding.weights
(resumable, with its sha256 check) against huggingface_hub's own hf_hub_download, in one
process, twice. Run from the repository root: ``python scripts/bench_weights_download.py``."""
import os, sys, tempfile, time
sys.path.insert(0, ".")
os.environ.update({"CLIPCORE_OFFLINE": "", "HF_HUB_OFFLINE": "", "HF_HUB_DISABLE_PROGRESS_BARS": "1"})
from tests.embedding.fakehub import FakeHub
from huggingface_hub import hf_hub_download
from clipcore.embedding.weights import download_hf_weights
data = os.urandom(200_000_000)
R, F = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "open_clip_model.safetensors"
with FakeHub({f"{R}/{F}": data}) as hub:
    for rep in range(2):
        t = time.perf_counter(); download_hf_weights(R, [F], cache_dir=tempfile.mkdtemp(), endpoint=hub.endpoint, progress=lambda d, t: None)
        a = time.perf_counter() - t
        t = time.perf_counter(); hf_hub_download(R, F, cache_dir=tempfile.mkdtemp(), endpoint=hub.endpoint)
        b = time.perf_counter() - t
        print(f"200 MB in-process: clipcore.embedding.weights {a:.1f} s ({200/a:.0f} MB/s), hf_hub_download {b:.1f} s ({200/b:.0f} MB/s)")
