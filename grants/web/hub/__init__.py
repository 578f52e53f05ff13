"""The resource hub's screens: the public pages under ``/help`` and the navigators'
curation under ``/hub``."""
