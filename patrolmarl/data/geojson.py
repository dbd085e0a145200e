"""Reading the features of a GeoJSON file (RFC 7946: WGS84 lon/lat) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from patrolmarl.errors import PatrolMarlError


def read_features(path: Path, flag: str) -> list[dict[str, Any]]:
    """The features of a GeoJSON FeatureCollection (or of a single Feature).

    Raises
    ------
    PatrolMarlError
        If the file is missing, not JSON, or holds no features.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PatrolMarlError(f"{flag} {path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PatrolMarlError(
            f"{flag} {path}: cannot read file ({exc.__class__.__name__})"
        ) from None
    except json.JSONDecodeError as exc:
        raise PatrolMarlError(f"{flag} {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = {"type": "FeatureCollection", "features": [doc]}
    if not (isinstance(doc, dict) and doc.get("type") == "FeatureCollection"):
        raise PatrolMarlError(f"{flag} {path}: not a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise PatrolMarlError(f"{flag} {path}: the FeatureCollection has no features")
    for i, feature in enumerate(features):
        if not (isinstance(feature, dict) and isinstance(feature.get("geometry"), dict)):
            raise PatrolMarlError(f"{flag} {path}: feature {i} has no geometry")
    return features


def geometry_of(feature: dict[str, Any], where: str):
    """The shapely geometry of a feature; one line naming ``where`` if it is not valid GeoJSON."""
    import shapely.geometry
    from shapely.errors import GEOSException

    try:
        return shapely.geometry.shape(feature["geometry"])
    except (GEOSException, KeyError, TypeError, ValueError, IndexError, AttributeError):
        kind = feature["geometry"].get("type")
        raise PatrolMarlError(f"{where}: malformed {kind} geometry") from None
