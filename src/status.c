/* SPDX-License-Identifier: MIT */
/*
 * status: the status codes' texts (pp_strerror) and names (pp_errname, for
 * logs), and the library's version.
 */
#define _GNU_SOURCE
#include "procpool.h"

#define STR2(x) #x
#define STR(x)  STR2(x)

const char *pp_version(void)
{
    return STR(PP_VERSION_MAJOR) "." STR(PP_VERSION_MINOR) "." STR(PP_VERSION_PATCH);
}

const char *pp_strerror(int status)
{
    switch (status) {
    case PP_OK: return "success";
    case PP_ETIMEOUT: return "timed out";
    case PP_ECANCELLED: return "cancelled";
    case PP_ETASK: return "the task failed";
    case PP_ECRASHED: return "the worker died while running the task";
    case PP_EDEADLINE: return "the task ran past its deadline";
    case PP_EBROKEN: return "the pool is broken";
    case PP_ESHUTDOWN: return "the pool is shut down";
    case PP_EINVAL: return "invalid argument";
    case PP_ENOMEM: return "out of memory";
    case PP_ESTATE: return "not valid in this state";
    case PP_ESYS: return "a system call failed";
    case PP_ELIMIT: return "the task passed a resource limit";
    default: return "unknown status";
    }
}

const char *pp_errname(int status)
{
    switch (status) {
    case PP_OK: return "PP_OK";
    case PP_ETIMEOUT: return "PP_ETIMEOUT";
    case PP_ECANCELLED: return "PP_ECANCELLED";
    case PP_ETASK: return "PP_ETASK";
    case PP_ECRASHED: return "PP_ECRASHED";
    case PP_EDEADLINE: return "PP_EDEADLINE";
    case PP_EBROKEN: return "PP_EBROKEN";
    case PP_ESHUTDOWN: return "PP_ESHUTDOWN";
    case PP_EINVAL: return "PP_EINVAL";
    case PP_ENOMEM: return "PP_ENOMEM";
    case PP_ESTATE: return "PP_ESTATE";
    case PP_ESYS: return "PP_ESYS";
    case PP_ELIMIT: return "PP_ELIMIT";
    default: return NULL;
    }
}
