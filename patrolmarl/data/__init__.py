"""Districts from a planner's own data: a calls CSV, a type map, boundaries, stations and roads.

Everything here needs the optional extra ``patrolmarl[data]`` (pandas, pyarrow,
pyproj, shapely); the simulator never imports it. The entry point is
:func:`patrolmarl.data.import_district.import_district`.
"""
