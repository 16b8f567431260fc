/**
 * The tiny training corpus behind the generated SentencePiece vocabulary: common English words
 * (roughly by frequency, most frequent first) and the identifiers, keywords and punctuation runs
 * of everyday code. It only has to make ordinary prose and code split into realistic token counts.
 */

export const ENGLISH_WORDS = `
the of and to a in is it you that he was for on are with as I his they be at one have this from or
had by not word but what some we can out other were all there when up use your how said an each she
which do their time if will way about many then them write would like so these her long make thing see
him two has look more day could go come did number sound no most people my over know water than call
first who may down side been now find any new work part take get place made live where after back
little only round man year came show every good me give our under name very through just form sentence
great think say help low line differ turn cause much mean before move right boy old too same tell does
set three want air well also play small end put home read hand port large spell add even land here must
big high such follow act why ask men change went light kind off need house picture try us again animal
point mother world near build self earth father head stand own page should country found answer school
grow study still learn plant cover food sun four between state keep eye never last let thought city
tree cross farm hard start might story saw far sea draw left late run while press close night real
life few north open seem together next white children begin got walk example ease paper group always
music those both mark often letter until mile river car feet care second book carry took science eat
room friend began idea fish mountain stop once base hear horse cut sure watch color face wood main
enough plain girl usual young ready above ever red list though feel talk bird soon body dog family
direct pose leave song measure door product black short numeral class wind question happen complete
ship area half rock order fire south problem piece told knew pass since top whole king space heard best
hour better true during hundred five remember step early hold west ground interest reach fast verb sing
listen six table travel less morning ten simple several vowel toward war lay against pattern slow
center love person money serve appear road map rain rule govern pull cold notice voice unit power town
fine certain fly fall lead cry dark machine note wait plan figure star box noun field rest correct able
pound done beauty drive stood contain front teach week final gave green oh quick develop ocean warm
free minute strong special mind behind clear tail produce fact street inch multiply nothing course stay
wheel full force blue object decide surface deep moon island foot system busy test record boat common
gold possible plane stead dry wonder laugh thousand ago ran check game shape equate hot miss brought
heat snow tire bring yes distant fill east paint language among report information data service
company business customer market price cost value support process result system development
management policy security access user account request response document contract agreement invoice
payment order delivery review summary analysis quality performance design research technology software
application server network database model training question answer text content message email team
project status issue update version release feature function method include including provide
provided following based using used within without however therefore because should would could
important different available current previous total number personal private public internal
external confidential sensitive health patient medical record employee salary address phone
`;

export const CODE_WORDS = `
function return const let var if else for while do switch case break continue default try catch
finally throw new this class extends implements interface type enum import export from as async await
yield static public private protected readonly abstract void null undefined true false typeof instanceof
in of delete super constructor get set def self None True False elif pass lambda with print range len
str int float bool dict list tuple append items keys values raise except assert global nonlocal not and
or is fn pub mut impl struct trait use mod crate match loop Some Ok Err Result Option Vec String usize
u32 i32 u64 f32 f64 package func go defer chan map make go fmt err nil string byte error println printf
console log error warn info debug JSON parse stringify Promise resolve reject then length push pop
shift slice splice map filter reduce forEach find includes indexOf keys entries Object Array Math
Number Date Error Map Set Symbol require module exports process env args options config params props
state context request response req res next app router handler middleware service controller
repository entity schema query table column row index key value id name data item items result results
count total size offset limit page token tokens model prompt input output text content message
messages user role system assistant job queue worker task event payload status timeout retry
`;

/** Runs that recur in source code, written as they appear after SentencePiece whitespace mapping. */
export const CODE_PUNCTUATION = [
  '()',
  '();',
  '):',
  ') {',
  '{',
  '}',
  '};',
  '[]',
  '[0]',
  '];',
  '=>',
  '===',
  '!==',
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '++',
  '--',
  '+=',
  '-=',
  '//',
  '/*',
  '*/',
  '::',
  '->',
  '...',
  '?.',
  '??',
  '${',
  '`,',
  "',",
  '",',
  '");',
  "');",
  '.js',
  '.ts',
  '.py',
  'http',
  'https',
  '://',
  'www',
  '.com',
  '\u2581=',
  '\u2581{',
  '\u2581}',
  '\u2581(',
  '\u2581+',
  '\u2581-',
  '\u2581*',
  '\u2581/',
  '\u2581<',
  '\u2581>',
  '\u2581#',
  '\u2581@',
  '\u2581\u2581',
  '\u2581\u2581\u2581\u2581',
  '\u2581\u2581\u2581\u2581\u2581\u2581\u2581\u2581',
];
