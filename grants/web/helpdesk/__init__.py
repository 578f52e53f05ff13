"""The help desk's screens: the public "help me find care" pages (:mod:`.care`), the
navigators' desk (:mod:`.desk`), and the admins' routing and the managers' figures
(:mod:`.oversight`)."""
