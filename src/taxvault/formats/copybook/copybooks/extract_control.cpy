      *================================================================*
      * COPYBOOK  : EXTCTL                                             *
      * PURPOSE   : HEADER (FIRST) AND TRAILER (LAST) RECORD OF EVERY  *
      *             TAXVAULT MASTER-FILE EXTRACT (IMF, BMF, CMS).      *
      * FORMAT    : VARIABLE (RDW) FILES, CODE PAGE 037. THE HEADER    *
      *             NAMES THE EXTRACT (AND SO ITS DATA COPYBOOK) AND   *
      *             SAYS WHETHER THE DATA IS SYNTHETIC; THE TRAILER    *
      *             CARRIES THE CONTROL TOTALS: THE NUMBER OF DATA     *
      *             RECORDS AND A HASH TOTAL OF THE EXTRACT'S AMOUNTS. *
      *             ALL DATA IN TAXVAULT IS SYNTHETIC.                 *
      *================================================================*
       01  EXTRACT-CONTROL-REC.
           05  CTL-REC-TYPE                PIC X(03).
               88  CTL-IS-HEADER                   VALUE 'HDR'.
               88  CTL-IS-TRAILER                  VALUE 'TRL'.
           05  CTL-EXTRACT-ID              PIC X(08).
           05  CTL-SYSTEM                  PIC X(08).
           05  CTL-RUN-DATE                PIC 9(08).
           05  CTL-SYNTHETIC               PIC X(01).
               88  CTL-IS-SYNTHETIC                VALUE 'Y'.
           05  CTL-RECORD-COUNT            PIC 9(09).
           05  CTL-AMOUNT-TOTAL            PIC S9(15)V99 COMP-3.
           05  FILLER                      PIC X(20).
