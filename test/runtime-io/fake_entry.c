/* fake_entry.c - what the compiled model's object defines for --emit=exe:
 * the descriptor sluice_main's main() runs (FAKE_MODEL, fakenet's unless
 * the build says another). */
#include "fake_model.h"

#ifndef FAKE_MODEL
#define FAKE_MODEL fakenet_model
#endif

const sl_model_desc *const sluice_main_model = &FAKE_MODEL;
