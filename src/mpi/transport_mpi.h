/* SPDX-License-Identifier: MIT */
/*
 * transport_mpi.h: the cluster transport over MPI (transport_mpi.c). This
 * header does not include mpi.h: only its .c does.
 */
#ifndef PP_MPI_TRANSPORT_MPI_H
#define PP_MPI_TRANSPORT_MPI_H

#include "transport.h"

/* Initialises MPI (MPI_Init_thread, MPI_THREAD_SERIALIZED: one thread of a
   rank calls MPI at a time) and opens this rank's transport over
   MPI_COMM_WORLD. PP_OK and *out; PP_ESTATE when MPI was already
   initialised; PP_ESYS when MPI failed to start. A failure after MPI started
   aborts the job (the other ranks would wait for ever in collectives). */
int pp__mpi_open(int *argc, char ***argv, struct pp_transport **out);

#endif
