/* fake_model.h - a hand-written stand-in for a compiled model, for testing
 * the runtime's model API, ledger and command line without the compiler.
 * gen_fixtures.py computes the same network with NumPy. */
#ifndef SLUICE_TEST_FAKE_MODEL_H
#define SLUICE_TEST_FAKE_MODEL_H

#include "sluice/model.h"

extern const sl_model_desc fakenet_model;

#endif
