/* fake_model.h - a hand-written stand-in for a compiled model, for testing
 * the runtime's model API, ledger and command line without the compiler.
 * gen_fixtures.py computes fakenet with NumPy. */
#ifndef SLUICE_TEST_FAKE_MODEL_H
#define SLUICE_TEST_FAKE_MODEL_H

#include "sluice/model.h"

extern const sl_model_desc fakenet_model;

/* Sequence models (fake_seq.c): fakeseq takes f32[T, 2] with T from 2 to
 * 5, fakeids token ids i32[T] with T from 1 to 8 and ids below 10. */
extern const sl_model_desc fakeseq_model;
extern const sl_model_desc fakeids_model;

#endif
