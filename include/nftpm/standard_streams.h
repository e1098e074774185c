// std::cout and its kin, declared without <iostream>'s start-up cost.
//
// With GCC 12's libstdc++, every translation unit that includes <iostream> holds a static
// std::ios_base::Init, whose constructor builds the eight standard streams and the classic
// locale's facets before main(). Every plugin call paid that, for streams only the command line
// prints to: 0.13 ms and 8 page faults of a one-port ADD of 2.4 ms (interleaved A/B beside the
// floor). CLI11 includes <iostream>, so including it is what costs.
//
// So the translation units of the command line include this header first: it declares the
// streams as <iostream> does and marks <iostream> as already included, and run_cli() builds the
// streams (a std::ios_base::Init of its own) before anything prints. Where <iostream> came first
// anyway, this header adds nothing and the streams are built at start-up as before: slower, never
// wrong. The lint.startup_streams test fails if any translation unit of the plugin holds the
// static object again. Another standard library (libc++), or libstdc++ 13 and later (which builds
// the streams in the library itself, whoever includes <iostream>), gets <iostream> as it is.
#pragma once

#include <istream>
#include <ostream>

#if !defined(__GLIBCXX__) || _GLIBCXX_RELEASE >= 13
#include <iostream>
#elif !defined(_GLIBCXX_IOSTREAM)
// libstdc++'s include guard for <iostream> (the only way to leave its static object out).
#define _GLIBCXX_IOSTREAM 1  // NOLINT(bugprone-reserved-identifier)

namespace std {  // NOLINT(cert-dcl58-cpp): the declarations <iostream> makes, word for word
extern istream cin;
extern ostream cout;
extern ostream cerr;
extern ostream clog;
extern wistream wcin;
extern wostream wcout;
extern wostream wcerr;
extern wostream wclog;
}  // namespace std
#endif
