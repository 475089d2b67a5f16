"""Images in, groups and split plans out: decoding a class-per-folder tree, the synthetic demo
set, image families, split groups, the split plan and its leakage audit. No Keras here."""

from .. import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "ImageSet": ".images",
        "load_image_set": ".images",
        "demo_dataset": ".demo",
        "find_families": ".families",
        "Families": ".families",
        "FamilySettings": ".families",
        "split_groups": ".grouping",
        "Split": ".splits",
        "make_plan": ".splits",
        "find_duplicates": ".audit",
        "read_given_split": ".given_split",
        "audit_given_split": ".part_audit",
        "load_external": ".external",
        "check_contamination": ".external",
    },
)
