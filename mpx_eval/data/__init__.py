"""Images in, groups and split plans out: decoding a class-per-folder tree, the synthetic demo
set, image families, split groups, the split plan and its leakage audit. No Keras here."""
