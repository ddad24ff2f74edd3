      *================================================================*
      * COPYBOOK  : IMFENTTY                                           *
      * PURPOSE   : INDIVIDUAL MASTER FILE (IMF) - ENTITY EXTRACT      *
      *             ONE RECORD PER TAXPAYER, FIXED LENGTH 250 BYTES.   *
      * NOTES     : TINS ARE CARRIED AS PIC X SO THAT LEADING ZEROS    *
      *             (E.G. SYNTHETIC EINS WITH PREFIX 00) SURVIVE.      *
      *             DATES ARE CCYYMMDD; ZERO MEANS "NONE".            *
      *             ALL DATA IN TAXVAULT IS SYNTHETIC.                 *
      *================================================================*
       01  IMF-ENTITY-REC.
           05  ENT-TIN                     PIC X(09).
           05  ENT-TIN-TYPE                PIC X(01).
               88  ENT-TIN-IS-SSN                  VALUE 'S'.
               88  ENT-TIN-IS-ITIN                 VALUE 'I'.
               88  ENT-TIN-IS-EIN                  VALUE 'E'.
           05  ENT-NAME-CONTROL            PIC X(04).
           05  ENT-NAME.
               10  ENT-LAST-NAME           PIC X(35).
               10  ENT-FIRST-NAME          PIC X(35).
               10  ENT-MIDDLE-NAME         PIC X(20).
           05  ENT-ADDRESS.
               10  ENT-ADDR-LINE-1         PIC X(35).
               10  ENT-ADDR-LINE-2         PIC X(35).
               10  ENT-CITY                PIC X(22).
               10  ENT-STATE               PIC X(02).
               10  ENT-ZIP.
                   15  ENT-ZIP-5           PIC X(05).
                   15  ENT-ZIP-4           PIC X(04).
           05  ENT-BIRTH-DATE              PIC 9(08).
           05  ENT-DEATH-DATE              PIC 9(08).
           05  ENT-FLAGS.
               10  ENT-DECEASED-FLAG       PIC X(01).
                   88  ENT-IS-DECEASED             VALUE 'Y'.
               10  ENT-RESTRICTED-FLAG     PIC X(01).
                   88  ENT-IS-RESTRICTED           VALUE 'Y'.
               10  ENT-EMPLOYEE-FLAG       PIC X(01).
                   88  ENT-IS-EMPLOYEE             VALUE 'Y'.
           05  ENT-SPOUSE-TIN              PIC X(09).
           05  ENT-FILING-STATUS           PIC 9(01).
               88  ENT-FS-SINGLE                   VALUE 1.
               88  ENT-FS-MARRIED-JOINT            VALUE 2.
               88  ENT-FS-MARRIED-SEPARATE         VALUE 3.
               88  ENT-FS-HEAD-OF-HOUSEHOLD        VALUE 4.
               88  ENT-FS-QUALIFYING-SURVIVOR      VALUE 5.
           05  FILLER                      PIC X(14).
