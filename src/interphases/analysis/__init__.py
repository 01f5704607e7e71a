"""The formulas behind the workflows: interface energetics, convex-hull stability,
windows and reactions. Pure functions of energies and structures, no engine calls.
"""
