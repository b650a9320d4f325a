// Service instance ids.

#ifndef MICRO_ID_H_
#define MICRO_ID_H_

#include <string>

namespace micro {

// Length of an id returned by GenerateId(), as a NATS NUID.
inline constexpr int kIdLength = 22;

// Returns a fresh 22-character id over [0-9A-Za-z], like the NUIDs the NATS
// clients use for service ids (nats.c 3.4.1 does not export its NUID
// generator). Every character is drawn from a generator seeded by the OS
// entropy source, so the id carries about 131 random bits: two calls, in this
// or any other process, return the same id only with negligible probability.
//
// Thread-safe.
std::string GenerateId();

}  // namespace micro

#endif  // MICRO_ID_H_
