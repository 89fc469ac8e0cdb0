"""The HTML report names the collection and shows a sample of its images, embedded."""

from __future__ import annotations

import re

from clipcore.classify.report import build_report, report_file_name, report_sample


def test_the_report_names_the_collection_and_embeds_a_sample(workspace):
    ids = [int(i) for i in workspace.image_ids()][:5]
    sample = report_sample(workspace, ids)
    assert len(sample) == 5 and all(u.startswith("data:image/jpeg;base64,") for _, u in sample)
    page = build_report({"error_rates": []}, collection="Hokusai <prints>", sample=sample + [("evil", "http://x.org/a.jpg")])
    assert "<title>Hokusai &lt;prints&gt;: image classification: evaluation report</title>" in page
    assert "A sample of Hokusai &lt;prints&gt;" in page
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == 5 and all(s.startswith("data:image/jpeg;base64,") for s in srcs)  # nothing external
    assert report_file_name("Hokusai <prints>") == "Hokusai-prints-report.html"
