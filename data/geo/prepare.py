#!/usr/bin/env python3
"""Rebuild the gzip-compressed GeoJSON files of this folder from the project's shared data folder.

Usage: python3 data/geo/prepare.py /work/shared/data/geo data/geo
Commune files are copied unchanged (their coordinates already have 5 decimals); the other files are rewritten as
described in SOURCES.md (5-decimal coordinates, consecutive duplicate points dropped, no other simplification, so
neighbouring shapes keep their shared vertices). Then run `gzip -9` on the produced .geojson files.
"""
import json
import os
import re
import sys

SRC, DST = sys.argv[1], sys.argv[2]


def load(name):
    with open(os.path.join(SRC, name), encoding="utf-8") as f:
        return json.load(f)


def save(obj, name):
    with open(os.path.join(DST, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


def ring(points):
    out = []
    for x, y, *_ in points:
        p = [round(x, 5), round(y, 5)]
        if not out or out[-1] != p:
            out.append(p)
    if out[0] != out[-1]:
        out.append(out[0])
    return out if len(out) >= 4 else None


def geometry(g):
    if g is None:
        return None
    polys = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
    out = []
    for poly in polys:
        rings = [ring(r) for r in poly]
        if rings[0] is None:
            continue
        out.append([r for r in rings if r is not None])
    return {"type": "MultiPolygon", "coordinates": out}


def ordinal(n, feminine=True):
    return f"{n}{'re' if feminine else 'er'}" if n == 1 else f"{n}e"


# Départements: precision only.
deps = load("departements.geojson")
for f in deps["features"]:
    f["geometry"] = geometry(f["geometry"])
save(deps, "departements.geojson")
dep_names = {f["properties"]["code"]: f["properties"]["nom"] for f in deps["features"]}
dep_names.update({"975": "Saint-Pierre-et-Miquelon", "977": "Saint-Barthélemy et Saint-Martin",
                  "986": "Wallis-et-Futuna", "987": "Polynésie française", "988": "Nouvelle-Calédonie",
                  "99": "Français établis hors de France"})

# Circonscriptions: add a French name.
circos = load("circonscriptions_legislatives.geojson")
for f in circos["features"]:
    p = f["properties"]
    p["nom"] = f"{dep_names[p['departement']]}, {ordinal(p['numero'])} circonscription"
    f["geometry"] = geometry(f["geometry"])
save(circos, "circonscriptions_legislatives.geojson")


# Paris bureaux: repair the identifiers, drop the overwritten numeric attributes.
def collapse(number):
    """The third party rewrote numbers by repeating digits (19 → 19999, 38 → 3888): collapse runs of a digit."""
    return re.sub(r"(\d)\1+", r"\1", str(int(number)))


bureaux = load("bureaux_paris_2017.geojson")
features, seen = [], set()
for f in bureaux["features"]:
    p = f["properties"]
    raw = p["id_bv"]
    arr, num = (raw[:-2], raw[-2:])
    if len(raw) == 3 and collapse(p["arrondisse"]) == "20":
        arr, num = "20", "0" + raw[2]  # "204" in the 20e is bureau 2004, not bureau 0204
    if f"{arr}{num}" in seen or (collapse(p["num_bv"]) != str(int(num)) and len(collapse(p["num_bv"])) == 2):
        num = collapse(p["num_bv"]).zfill(2)  # the two "1039": the one with num_bv 3888 is bureau 1038
    key = f"{int(arr):02d}{num}"
    assert key not in seen, key
    seen.add(key)
    a = int(arr)
    features.append({"type": "Feature", "properties": {
        "code": f"75056_{key}", "nom": f"Paris {a}{'er' if a == 1 else 'e'}, bureau {int(num)}",
        "arrondissement": f"751{a:02d}", "id_bv": raw}, "geometry": geometry(f["geometry"])})
assert len(seen) == 896
save({"type": "FeatureCollection", "features": features}, "bureaux_paris_2017.geojson")
