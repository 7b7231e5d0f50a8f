"""The catalogue: the six Kaggle-shaped CSV files, generated or real, and their loader."""
