"""Small shared value types: hazards (with their Bahasa Indonesia and Tetum aliases), needs, figures, points."""

from __future__ import annotations

import math
import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


class Hazard(StrEnum):
    flood = "flood"
    flash_flood = "flash_flood"
    landslide = "landslide"
    earthquake = "earthquake"
    tsunami = "tsunami"
    volcano = "volcano"
    fire = "fire"
    storm = "storm"
    drought = "drought"
    other = "other"


# Volunteers type what they say on the ground; the app may send either the code or the local word.
HAZARD_ALIASES: dict[str, Hazard] = {
    # Bahasa Indonesia
    "banjir": Hazard.flood,
    "banjir rob": Hazard.flood,
    "rob": Hazard.flood,
    "genangan": Hazard.flood,
    "banjir bandang": Hazard.flash_flood,
    "bandang": Hazard.flash_flood,
    "longsor": Hazard.landslide,
    "tanah longsor": Hazard.landslide,
    "gempa": Hazard.earthquake,
    "gempa bumi": Hazard.earthquake,
    "gempabumi": Hazard.earthquake,
    "tsunami": Hazard.tsunami,
    "erupsi": Hazard.volcano,
    "letusan": Hazard.volcano,
    "gunung meletus": Hazard.volcano,
    "meletus": Hazard.volcano,
    "awan panas": Hazard.volcano,
    "abu vulkanik": Hazard.volcano,
    "lahar": Hazard.volcano,
    "kebakaran": Hazard.fire,
    "kebakaran hutan": Hazard.fire,
    "karhutla": Hazard.fire,
    "puting beliung": Hazard.storm,
    "angin kencang": Hazard.storm,
    "badai": Hazard.storm,
    "siklon": Hazard.storm,
    "cuaca ekstrem": Hazard.storm,
    "kekeringan": Hazard.drought,
    "lainnya": Hazard.other,
    # Tetum
    "inundasaun": Hazard.flood,
    "be sae": Hazard.flood,
    "rai halai": Hazard.landslide,
    "rai nakdoko": Hazard.earthquake,
    "ahi han": Hazard.fire,
    "anin boot": Hazard.storm,
    "rai maran": Hazard.drought,
    # English spellings
    "flashflood": Hazard.flash_flood,
    "flash flood": Hazard.flash_flood,
    "eruption": Hazard.volcano,
    "volcanic": Hazard.volcano,
    "wildfire": Hazard.fire,
    "cyclone": Hazard.storm,
}


def normalise_hazard(value: object) -> object:
    """Map a code or a local alias to a Hazard; leave anything else for pydantic to reject clearly."""
    if isinstance(value, Hazard) or not isinstance(value, str):
        return value
    key = re.sub(r"[\s_\-']+", " ", value.strip().lower()).strip()
    code = key.replace(" ", "_")
    if code in Hazard.__members__:
        return Hazard(code)
    return HAZARD_ALIASES.get(key, value)


HazardField = Annotated[Hazard, BeforeValidator(normalise_hazard)]


class Need(StrEnum):
    food = "food"
    water = "water"
    shelter = "shelter"
    health = "health"
    sanitation = "sanitation"
    clothing = "clothing"
    evacuation = "evacuation"
    psychosocial = "psychosocial"
    other = "other"


NEED_ALIASES: dict[str, Need] = {
    "makanan": Need.food, "pangan": Need.food, "air": Need.water, "air bersih": Need.water,
    "tempat tinggal": Need.shelter, "hunian": Need.shelter, "tenda": Need.shelter, "kesehatan": Need.health,
    "obat": Need.health, "sanitasi": Need.sanitation, "pakaian": Need.clothing, "evakuasi": Need.evacuation,
    "psikososial": Need.psychosocial, "lainnya": Need.other,
}


def normalise_need(value: object) -> object:
    if isinstance(value, str):
        key = value.strip().lower().replace("_", " ")
        if key.replace(" ", "_") in Need.__members__:
            return Need(key.replace(" ", "_"))
        return NEED_ALIASES.get(key, value)
    return value


NeedField = Annotated[Need, BeforeValidator(normalise_need)]

FIGURE_NAMES: tuple[str, ...] = ("affected", "dead", "injured", "missing", "displaced", "houses_damaged")

Count = Annotated[int, Field(ge=0, le=10_000_000, strict=False)]


class Figures(BaseModel):
    """People and houses counted at one site; each optional because assessors rarely know all six."""

    model_config = ConfigDict(extra="forbid")

    affected: Count | None = None
    dead: Count | None = None
    injured: Count | None = None
    missing: Count | None = None
    displaced: Count | None = None
    houses_damaged: Count | None = None

    @field_validator(*FIGURE_NAMES, mode="before")
    @classmethod
    def _integers_only(cls, v: object) -> object:
        # 12.5 people is a typo, not a figure; reject it instead of silently truncating.
        if isinstance(v, bool):
            raise ValueError("must be a whole number, not true/false")
        if isinstance(v, float) and not v.is_integer():
            raise ValueError("must be a whole number")
        return v


class GeoPoint(BaseModel):
    """A WGS84 point. NaN and out-of-range values are refused here, at the edge."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, description="Latitude in decimal degrees (WGS84)")
    lon: float = Field(ge=-180, le=180, description="Longitude in decimal degrees (WGS84)")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, description="GPS accuracy in metres")

    @field_validator("lat", "lon", "accuracy_m")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v
