" Prints the filetype of the buffer, then the syntax group at each [line,
" column] below (test/editors/vim-syntax.test).
echo "filetype" &filetype &commentstring
for [s:l, s:c] in [[1, 1], [1, 8], [2, 1], [2, 7], [3, 12], [4, 13], [4, 21], [5, 3],
      \ [5, 17], [5, 26], [6, 7], [7, 3], [7, 10], [7, 15], [7, 22], [7, 27], [7, 31],
      \ [7, 35], [8, 7], [8, 9], [8, 12]]
  echo s:l s:c getline(s:l)[s:c - 1 :] synIDattr(synID(s:l, s:c, 1), "name")
endfor
