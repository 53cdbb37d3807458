"""Runs `mvq report` and checks that the SVG it writes is well-formed XML with one bar per layer component and
that report.json parses. Usage: check_report_svg.py <mvq binary> <scratch folder>"""
import json
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

mvq, scratch = sys.argv[1], pathlib.Path(sys.argv[2])
out = scratch / "report_svg"
subprocess.run([mvq, "report", "--json", "--sample", "64", "--iters", "2", "-o", str(out)], check=True,
               stdout=subprocess.DEVNULL)
root = ET.parse(out / "energy_breakdown.svg").getroot()
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
report = json.loads((out / "report.json").read_text())
layers = len(report["designs"][1]["layers"])
titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
# one titled bar per non-zero component of each layer, for EWS and for MVQ
expected = sum(1 for d in (report["designs"][1], report["designs"][3]) for l in d["layers"]
               for k, v in l["energy_pj"].items() if k != "total" and v > 0)
assert len(titles) == expected, (len(titles), expected)
assert layers == 21, layers
print("ok:", len(titles), "bars,", layers, "layers")
