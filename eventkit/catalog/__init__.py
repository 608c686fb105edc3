"""The catalog: event models, entity declarations, column and type maps, tool categories, prices.

The only schema of eventkit. Nothing here imports the rest of eventkit (errors aside).
"""
