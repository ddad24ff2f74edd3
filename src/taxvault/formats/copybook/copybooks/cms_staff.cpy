      *================================================================*
      * COPYBOOK  : CMSSTAFF                                           *
      * PURPOSE   : CASE MANAGEMENT SYSTEM (CMS) - STAFF EXTRACT       *
      *             ONE RECORD PER PRINCIPAL (EMPLOYEE, CONTRACTOR,    *
      *             SYSTEM JOB ...) WITH THE TINS THE PERSON DECLARED  *
      *             AS SELF, SPOUSE, HOUSEHOLD OR RELATIVE (0 TO 50),  *
      *             WHICH THE ACCESS RULES USE TO REFUSE CONFLICTS.    *
      * FORMAT    : VARIABLE (RDW). CREATED TIME IS UTC.               *
      *             MANAGERS PRECEDE THE STAFF WHO NAME THEM.          *
      *================================================================*
       01  CMS-STAFF-REC.
           05  STF-ID                      PIC X(40).
           05  STF-KIND                    PIC X(16).
           05  STF-DISPLAY-NAME            PIC X(120).
           05  STF-ROLES                   PIC X(200).
           05  STF-UNIT                    PIC X(40).
           05  STF-TIN                     PIC X(09).
           05  STF-MANAGER-ID              PIC X(40).
           05  STF-DOLLAR-LIMIT            PIC S9(11)V99 COMP-3.
           05  STF-ACTIVE                  PIC X(01).
               88  STF-IS-ACTIVE                   VALUE 'Y'.
           05  STF-CREATED-DATE            PIC 9(08).
           05  STF-CREATED-TIME            PIC 9(06).
           05  STF-REL-COUNT          PIC S9(04)    COMP.
           05  STF-RELATION                OCCURS 0 TO 50 TIMES
                                           DEPENDING ON STF-REL-COUNT.
               10  REL-TIN                 PIC X(09).
               10  REL-KIND                PIC X(16).
