"""Image families: the copies of one photo in a set, found by local features, checked
geometrically and joined under guards (docs/families.md); every threshold in FamilySettings."""

from .pipeline import find_families
from .result import Families, Link
from .settings import FamilySettings, settings_table

__all__ = ["Families", "FamilySettings", "Link", "find_families", "settings_table"]
