"""Where a report is, in official admin codes: Kemendagri 2025 for Indonesia, OCHA P-codes for Timor-Leste."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GeotagMethod = Literal["village_polygon", "district_polygon", "nearest_village", "offshore_snap", "place_name", "none"]


class GeoTag(BaseModel):
    """Codes and names of each admin level, and how the answer was reached.

    Levels: 1 province / municipality, 2 regency-city / post (TL admin 2), 3 district (kecamatan) / suco,
    4 village (desa/kelurahan; Timor-Leste has no level 4). Unknown levels are None.
    """

    model_config = ConfigDict(extra="forbid")

    country: Literal["ID", "TL"] | None = None
    adm1: str | None = None
    adm1_name: str | None = None
    adm2: str | None = None
    adm2_name: str | None = None
    adm3: str | None = None
    adm3_name: str | None = None
    adm4: str | None = None
    adm4_name: str | None = None
    geotag_method: GeotagMethod = "none"
    distance_m: float | None = Field(default=None, description="Distance snapped, where it snapped")
    flags: list[str] = Field(default_factory=list, description="e.g. offshore, latlon_swapped, ambiguous")
    reason: str | None = Field(default=None, description="Why it is 'none' or ambiguous")

    def code(self, level: int) -> str | None:
        return getattr(self, f"adm{level}")

    def name(self, level: int) -> str | None:
        return getattr(self, f"adm{level}_name")

    @property
    def most_specific(self) -> str | None:
        return self.adm4 or self.adm3 or self.adm2 or self.adm1

    @property
    def partition_key(self) -> str:
        """Regency code (adm2) when known: all state one site decision needs sits on its partition."""
        return self.adm2 or self.adm1 or "unlocated"
