"""The objectives that ship with hptui, written against the public interface
(engine.objective): the IMDB LSTM of the source design, and a fast one on scikit-learn's
bundled digits."""
