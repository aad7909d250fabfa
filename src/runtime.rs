//! Runtime structures built from the model.
