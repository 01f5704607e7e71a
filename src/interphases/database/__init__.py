"""Results database: a jobflow JobStore (embedded montydb by default, MongoDB in
production) plus a flat summary collection and its query API.
"""
